#!/bin/sh
echo "the example app (layer2)"
