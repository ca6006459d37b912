print("sega-bench: not yet")
