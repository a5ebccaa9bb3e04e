"""Renderers turn a Report into text, JSON or HTML. A renderer never connects, and shows a report only through
``preflight.redaction.masked``: no secret the run knows (the dashboard's credentials, the Ray auth token, the TLS
private key) comes out, whatever a server echoed into the results or the facts."""
