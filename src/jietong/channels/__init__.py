"""Channel adapters (email, web chat, SMS, WeChat, API) behind one Protocol and a registry."""
