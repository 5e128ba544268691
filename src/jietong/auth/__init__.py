"""Authentication: passwords, browser sessions, API tokens, login rate limiting."""
