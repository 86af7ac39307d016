"""Records timm's reference numbers used by tests/test_timm_parity.py (run where torch and timm are installed):

    python tools/timm_reference.py OUT_DIR

Writes OUT_DIR/timm_reference.json (parameter counts of timm's hybrid and BiT models at 224 with 1000 classes, and
the MACs torch's FlopCounterMode measures on a few of them) and OUT_DIR/parity_{stem,bit}.npz (outputs of small timm
ResNetV2 networks with TF-style SAME padding whose weights are drawn from numpy's default_rng(0) in Keras layout, in
timm's state-dict order, with the keras_vit variable path and Keras shape of each weight). The fixtures in
tests/fixtures/ came from this exact script (timm 1.0.29, torch 2.11.0) on the project's GPU machine; it is kept
compact because it had to travel inside a 2,000-character command.
"""
import json,sys
from functools import partial
import numpy as np,timm,torch
from timm.layers import StdConv2dSame
from timm.models.resnetv2 import ResNetV2
from torch.utils.flop_counter import FlopCounterMode
O=sys.argv[1];C={}
for n in "vit_base_r50_s16_224 vit_large_r50_s32_224 vit_small_r26_s32_224 vit_tiny_r_s16_p8_224 resnetv2_50x1_bit resnetv2_50x3_bit resnetv2_101x1_bit resnetv2_101x3_bit resnetv2_152x2_bit resnetv2_152x4_bit vit_base_patch16_224".split():
 with torch.device("meta"):m=timm.create_model(n,num_classes=1000)
 C[n]=sum(p.numel() for p in m.parameters());print(n,C[n],flush=True)
F={}
for n in "vit_base_patch16_224 vit_base_r50_s16_224 resnetv2_50x1_bit vit_tiny_r_s16_p8_224".split():
 m=timm.create_model(n,num_classes=1000).eval();c=FlopCounterMode(display=False)
 with c,torch.no_grad():m(torch.zeros(1,3,224,224))
 F[n]=c.get_total_flops()//2;print(n,F[n],flush=True)
json.dump({"timm":timm.__version__,"torch":torch.__version__,"counts":C,"macs":F},open(O+"/timm_reference.json","w"),indent=1)
def kp(k,nd):
 p=k.split(".")
 if p[0]=="stem":l={"conv":"root/conv_root","norm":"root/gn_root"}[p[1]]
 elif p[0]=="stages":
  s=p[4];s={"conv":"conv_proj","norm":"gn_proj"}[p[5]] if s=="downsample" else s.replace("norm","gn");l=f"block{int(p[1])+1}_unit{int(p[3])+1}/{s}"
 else:l=p[0]
 if l=="head":return "head/"+("kernel" if nd>1 else "bias")
 if nd==1:return l+"/"+("gamma" if p[-1]=="weight" else "beta")
 return l+"/kernel"
def kv(r,p,s):
 v=r.standard_normal(s).astype("float32")
 if p.endswith("gamma"):return v*.3+1
 if p.endswith(("beta","bias")):return v*.3
 return v*(.05 if p.startswith("head") else .1)
for t,pre,nc in(("stem",False,0),("bit",True,10)):
 r=np.random.default_rng(0);im=r.standard_normal((2,45,37,3)).astype("float32")
 net=ResNetV2(layers=[2,1],num_classes=nc,global_pool="avg" if nc else "",preact=pre,stem_type="same",conv_layer=partial(StdConv2dSame,eps=1e-8)).eval()
 P=[];S=[]
 with torch.no_grad():
  for k,q in net.state_dict().items():
   ts=tuple(q.shape)
   if k.startswith("head"):s=(ts[1],ts[0]) if len(ts)>1 else ts
   elif len(ts)==4:s=(ts[2],ts[3],ts[1],ts[0])
   else:s=ts
   p=kp(k,len(s));v=kv(r,p,s)
   if k.startswith("head") and len(s)==2:v=v.T.reshape(ts)
   elif v.ndim==4:v=v.transpose(3,2,0,1)
   q.copy_(torch.from_numpy(np.ascontiguousarray(v)));P.append(p);S.append(",".join(map(str,s)))
  x=torch.from_numpy(im.transpose(0,3,1,2).copy());y=net(x) if nc else net.forward_features(x)
 if y.ndim==4:y=y.permute(0,2,3,1)
 np.savez(f"{O}/parity_{t}.npz",outputs=y.numpy(),paths=np.array(P),shapes=np.array(S),timm=np.array(timm.__version__));print(t,tuple(y.shape),len(P),flush=True)
