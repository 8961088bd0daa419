"""The runtime's stream front half: LSL inlet, ring buffer, streaming filters, windows, consumer.

Submodules are imported on use (``from myosem_rt.stream.consumer import StreamConsumer``) so that the
pure-numpy parts (ring, windows) do not pull in pylsl or scipy.
"""
