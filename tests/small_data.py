"""Settings of the small real-data sets that tests generate (fixtures in conftest.py)."""

#: The smallest MNIST-COCO canvases that still hold several digits per canvas.
MNIST_COCO_SMALL = dict(
    num_train=6,
    num_val=3,
    num_test=3,
    canvas_size=64,
    scale=(12, 32),
    digits_per_canvas=(2, 4),
    progress=False,
)
