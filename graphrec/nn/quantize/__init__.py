"""Residual quantisation (GSERec's S3): a Sinkhorn-balanced assignment, the residual quantiser with
usage statistics and dead-code reset, RQ-VAE towers and the two-tower model with the cross-domain
contrastive loss, and the fit / code-assignment loop with collision repair."""
from graphrec.nn.quantize.residual import QuantizerOutput, ResidualQuantizer
from graphrec.nn.quantize.rqvae import RQVAETower, TowerOutput, TwoTowerRQVAE
from graphrec.nn.quantize.sinkhorn import sinkhorn_assign, sinkhorn_plan
from graphrec.nn.quantize.train import RQVAEConfig, assign_codes, codebook_usage, collision_rate, fit_rqvae

__all__ = ["QuantizerOutput", "ResidualQuantizer", "RQVAETower", "TowerOutput", "TwoTowerRQVAE",
           "sinkhorn_assign", "sinkhorn_plan", "RQVAEConfig", "fit_rqvae", "assign_codes", "codebook_usage",
           "collision_rate"]
