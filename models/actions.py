"""The actions by which a user says they liked a pin: every model's positive engagements."""

POSITIVE_ACTIONS = ("click", "save", "long_click")
