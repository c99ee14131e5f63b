"""The panes and bars of the concviz app: pure views of a Frame."""
