"""The app's inbound side: one module per channel. Webhooks store and acknowledge; they never
talk to Rasa or send replies."""
