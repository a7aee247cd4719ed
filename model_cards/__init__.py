"""Model-card templates, shipped inside the package as `mocoim_hub.model_cards` (see pyproject)."""
