"""The Genesys Cloud client: regions and hosts, OAuth, notifications REST, the websocket's control messages,
topic names, the org model and the token secret. What the bridge keeps is in ``evidence``."""
