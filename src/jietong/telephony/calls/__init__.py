"""Voice calls: the call and leg model, the call service and call detail records."""
