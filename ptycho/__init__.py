"""ptycho: a physics-informed neural network (PINN) ptychography pipeline.

simulate -> group -> scale -> train -> infer -> stitch -> evaluate. Every function takes its
settings as explicit arguments (see `ptycho.config`); nothing reads global configuration.
TensorFlow is imported lazily, once, through `ptycho.tfload`.
"""
__version__ = "0.1.0"
