"""The flagship: fitting a signal (an image today; 1-D functions, 3-D fields and several images
next) with encoding + MLP, over one Trainer interface (`gfxnn.fields.trainer`)."""
