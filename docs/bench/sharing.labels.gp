preload = "256"
workers = "4"
dirty = "16"
