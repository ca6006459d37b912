// Placeholder: replaced by the model benchmark.
print("sega-modelbench: not yet")
