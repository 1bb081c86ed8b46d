"""attnviz: see attention, with the real numbers at every step."""
