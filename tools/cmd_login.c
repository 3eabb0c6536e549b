/* layerctl login/logout (placeholder until they land). */
