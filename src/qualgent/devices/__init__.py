"""The device pool: catalog profiles now, live worker devices next."""
