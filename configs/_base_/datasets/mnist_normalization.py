# The input normalisation of the MNIST students (mean and std of the grey digits, replicated to
# three channels). Downstream MNIST-COCO configs reuse it, so the backbone sees what it saw in
# pretraining.
mnist_mean = [33.3, 33.3, 33.3]
mnist_std = [78.6, 78.6, 78.6]
