"""SSO bridge: vend cached Genesys tokens to callers with a verified IdP JWT; exchange SAML assertions."""
