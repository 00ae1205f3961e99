# Before anything imports JAX (whose import starts threads with their own malloc arenas): every launcher's
# process keeps freed host memory for reuse, a third off each CPU train step (recovery_jax/host_memory.py).
from recovery_jax.host_memory import keep_freed_memory

keep_freed_memory()
