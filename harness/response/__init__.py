"""Response: what a responder does once an alert fires (event window, evidence bundle, indicators)."""
