"""Optional integrations with other Django apps; each is imported only when a site uses it."""
