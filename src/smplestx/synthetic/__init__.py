"""License-free synthetic assets: a SMPL-X / SMPL mannequin, rendered scenes and a HumanData data set.

Modules (imported on demand, so ``import smplestx.synthetic`` stays light):

* :mod:`.smplx_model` - the SMPL-X model folder (``write_synthetic_body``, ``make_synthetic_arrays``);
* :mod:`.smpl_model` - the SMPL model and ``smplx2smpl.pkl`` derived from it (``write_synthetic_smpl``);
* :mod:`.scene` - images and videos of posed mannequins with their true boxes and truth (``render_scene``,
  ``write_demo_media``);
* :mod:`.walks` - people walking on crossing paths, with feet that plant (``walk_truth``, ``write_walk_media``);
* :mod:`.truth` - the ground-truth sidecar both write (``MEDIA.truth.npz``: ``write_truth``, ``read_truth``);
* :mod:`.look` - how every synthetic person looks: face, hair, shirt panel, clothes (``face_regions``, ``face_colors``);
* :mod:`.dataset` - a rendered training / test set written as HumanData (``write_synthetic_dataset``).
"""
