"""Deep Learning Foundations: the course package (data generators and loaders in ``dlf.data``)."""
