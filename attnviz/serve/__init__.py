"""Serving the app to a class: the launcher (`make run`, `make serve`) and a client of
Streamlit's websocket protocol (warm-up, load tool, deploy test). No page imports this."""
