"""Telling people: the outbox, channels (WeChat, SMS) and scheduler jobs."""
