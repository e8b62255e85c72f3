"""File input and output: atomic writes, image and video reading/writing, results files, meshes."""
