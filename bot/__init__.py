"""Listening Bot: a multilingual WhatsApp/SMS listening survey for health and care teams."""
