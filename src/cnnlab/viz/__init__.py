"""What networks learn (lecture 9): filters, dataset examples, feature visualization by
gradient ascent, and saliency, for any cnnlab or torchvision model, addressed by layer name."""

from cnnlab.viz import objectives
from cnnlab.viz.examples import TopExamples, top_examples
from cnnlab.viz.filters import filter_grid
from cnnlab.viz.layers import capture, get_layer, layer_names, layer_table
from cnnlab.viz.receptive_field import receptive_fields
from cnnlab.viz.render import RenderConfig, RenderResult, render
from cnnlab.viz.saliency import saliency_map, saliency_panel

__all__ = [
    "RenderConfig",
    "RenderResult",
    "TopExamples",
    "capture",
    "filter_grid",
    "get_layer",
    "layer_names",
    "layer_table",
    "objectives",
    "receptive_fields",
    "render",
    "saliency_map",
    "saliency_panel",
    "top_examples",
]
