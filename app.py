"""Gradio demo of MoCo-IM encoders (the interface is `mocoim_hub.app`).

python app.py                                        # the model of the README's main command
python app.py --model runs/demo/model --model nih=your-org/mocoim-nih   # the models it serves
MOCOIM_MODEL=your-org/mocoim-nih python app.py       # the same, as Spaces set it
"""

from mocoim_hub.app import main

if __name__ == "__main__":
    main()
