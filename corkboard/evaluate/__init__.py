"""`corkboard evaluate`: every registered model on one dataset under the protocol of models/leave_last_out.py.

``registry`` names the models, ``grids`` declares the settings each is chosen among, ``builders`` makes a
model at one setting, ``run`` fits and scores them, ``all_action`` adds the PinnerFormer comparison on the
synthetic worlds, and ``report`` gives the JSON shape and the Markdown tables.
"""
