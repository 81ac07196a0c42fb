"""Physical limits of a run: the model's shape, the device's figures and the speed-of-light floors."""
