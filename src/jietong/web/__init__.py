"""The web shell: sign-in, a landing page per role, i18n. Assets are vendored (no CDN)."""
