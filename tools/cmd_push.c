/* layerctl push: see cmd_push_main.c (placeholder until push lands). */
