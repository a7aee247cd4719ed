"""Gradio demo of a MoCo-IM encoder (the interface is `mocoim_hub.app`).

python app.py                                   # the model of the README's main command
MOCOIM_MODEL=your-org/mocoim-nih python app.py  # any local folder or Hub id
"""

from mocoim_hub.app import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch()
