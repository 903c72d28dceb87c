"""`nox -s bench`: speed and scale figures against the targets of issue 8 (see harness/bench/__main__.py)."""
