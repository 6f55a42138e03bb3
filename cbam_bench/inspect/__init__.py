"""What a trained network looks at: Grad-CAM (captum), the attention modules' own maps, and
localisation scores of those maps against known target boxes."""
