"""Pure ML building blocks: typed functions on frames and models; no journal, no runtime."""
