"""Renderers turn a Report into text, JSON or HTML. A renderer never connects."""
