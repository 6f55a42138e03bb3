"""What a network costs: parameters, multiply-adds, element-wise work, latency and memory."""

# Kept here, free of torch, so the command line can list them without importing the counters.
BREAKDOWNS = ("total", "stage", "block")
