"""``cnnlab serve RUN_DIR``: draw a digit in the browser and watch a trained network think.

digit.py      PNG bytes -> the 28×28 image the network sees (MNIST's own preprocessing)
inspector.py  the model behind the page: prediction, every layer's activations, one
              unit's arithmetic, the layer list and size table
app.py        the FastAPI app: /api/predict, /api/model, /api/unit, /api/curves, static files
predict_pool.py  /api/predict in forked worker processes (``serve --workers``)
static/       the page (plain HTML/JS/CSS, nothing from the network)
"""
