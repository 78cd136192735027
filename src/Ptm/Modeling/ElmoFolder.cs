using Ptm.HuggingFace;
using Ptm.IO;
using Ptm.Training;

namespace Ptm.Modeling;

/// <summary>
/// An ELMo model folder: config.json (<see cref="ElmoConfig"/>, <c>model_type</c> "elmo"), model.safetensors (the
/// biLM's state_dict) and the softmax vocabulary (<see cref="ElmoVocabulary.FileName"/>). Pre-training checkpoints are
/// such folders, so a run folder loads too (its latest checkpoint).
/// </summary>
public static class ElmoFolder
{
    /// <summary>Writes config.json, model.safetensors and the vocabulary into <paramref name="directory"/>.</summary>
    public static void Save(string directory, ElmoBiLm model, ElmoVocabulary vocabulary)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, ModelFolder.ConfigFile), model.Config.ToJson());
        SafeTensorsWriter.Write(Path.Combine(directory, ModelFolder.WeightsFile), model.state_dict(),
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "ptm", ["architecture"] = "ElmoBiLm" });
        vocabulary.Save(directory);
    }

    /// <summary>Loads a biLM and its vocabulary from a model folder or a run folder's latest checkpoint, in eval mode.
    /// The caller disposes the model.</summary>
    /// <exception cref="InvalidInputException">The folder is not an ELMo model folder, or a file is missing or does not fit the config.</exception>
    public static (ElmoBiLm Model, ElmoVocabulary Vocabulary) Load(string path) => Checkpoints.LoadResolved(path, LoadFrom);

    static (ElmoBiLm, ElmoVocabulary) LoadFrom(string dir)
    {
        string configPath = Path.Combine(dir, ModelFolder.ConfigFile);
        var family = ModelFolder.Family(dir);
        if (family != ModelFamily.Elmo)
            throw new InvalidInputException($"{configPath}: model_type is \"{family.ModelType}\", not \"{ModelFamily.Elmo.ModelType}\"");
        var config = ElmoConfig.Load(configPath);
        var vocabulary = ElmoVocabulary.Load(dir);
        if (vocabulary.VocabSize != config.VocabSize)
            throw new InvalidInputException($"{Path.Combine(dir, ElmoVocabulary.FileName)}: {vocabulary.VocabSize} words, but config.json vocab_size is {config.VocabSize}");
        var model = new ElmoBiLm(config);
        try { ModelFolder.LoadWeights(model, Path.Combine(dir, ModelFolder.WeightsFile)); }
        catch { model.Dispose(); throw; }
        model.eval();
        return (model, vocabulary);
    }
}
