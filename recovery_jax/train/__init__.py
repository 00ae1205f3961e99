"""Fine-tuning: heads' losses, the pmapped step, optimiser masking, orbax checkpoints, the loop."""
