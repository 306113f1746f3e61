// layer_link_main.cpp: the empty program of the layer link checks
// (CMakeLists.txt, "layer link checks"). Each check links one layer's archive
// whole (every object file of it) with only the layers that layer may use, so
// it links only if no file of the layer needs a symbol from a layer above or
// beside it. It is built, never run.
int main() { return 0; }
