"""Portal views, one module per area; every view is wrapped by security.page()."""
