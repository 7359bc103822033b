benchmarks/refine_keep_rule.py run --data-dir data --subset dev --tag dev
settings: RefineSettings(steps=30, resolution=64, loss=SketchLoss(silhouette_weight=1.0, distance_weight=0.0, anchor_weight=0.05), lr=0.01, lr_decay=0.3, prior_weight=0.0001), mesh 128; 1329 s on 2 processes
