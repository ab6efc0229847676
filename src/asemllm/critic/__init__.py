"""The default critic: critique claims backed by measured photo attributes."""
