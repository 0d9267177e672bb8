"""Real local HTTP stand-ins for external services (WeChat, SMS gateway), for tests and the demo."""
